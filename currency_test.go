package journey

import (
	"errors"
	"math"
	"slices"
	"testing"
)

func TestCurrencyTable(t *testing.T) {
	codes := Currencies()
	if len(codes) < 150 {
		t.Fatalf("only %d currencies", len(codes))
	}
	if !slices.IsSorted(codes) || len(slices.Compact(slices.Clone(codes))) != len(codes) {
		t.Fatal("Currencies() is not sorted and unique")
	}
	for code, want := range map[string]int{
		"EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "CNY": 2, "INR": 2, "BRL": 2, "XCG": 2,
		"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "XOF": 0, "XAF": 0, "XPF": 0, "UGX": 0, "PYG": 0,
		"BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "IQD": 3, "LYD": 3, "TND": 3,
		"CLF": 4, "UYW": 4,
	} {
		if got, ok := CurrencyExponent(code); !ok || got != want {
			t.Errorf("CurrencyExponent(%s) = %d, %v; want %d", code, got, ok, want)
		}
	}
	for _, code := range []string{"", "EU", "EURO", "eur", "XAU", "XXX", "XTS", "XDR", "ABC", "E1R", "€UR"} {
		if _, ok := CurrencyExponent(code); ok {
			t.Errorf("CurrencyExponent(%q) ok", code)
		}
	}
}

func TestParseAmount(t *testing.T) {
	for _, c := range []struct {
		amount, currency string
		want             int64
		rule             string
	}{
		{"42.50", "EUR", 4250, ""},
		{"42.5", "EUR", 4250, ""},
		{"0", "EUR", 0, ""},
		{"0.01", "EUR", 1, ""},
		{"1.230", "EUR", 123, ""},
		{"1.234", "EUR", 0, `"1.234" has more decimals than EUR allows (2)`},
		{"1500", "JPY", 1500, ""},
		{"1500.00", "JPY", 1500, ""},
		{"1500.01", "JPY", 0, `"1500.01" has more decimals than JPY allows (0)`},
		{"1.5", "KWD", 1500, ""},
		{"1.005", "BHD", 1005, ""},
		{"0.0001", "CLF", 1, ""},
		{"92233720368547758.07", "EUR", math.MaxInt64, ""},
		{"92233720368547758.08", "EUR", 0, `"92233720368547758.08" is too large (more than 2^63-1 minor units)`},
		{"9223372036854775807", "JPY", math.MaxInt64, ""},
		{"9223372036854775808", "JPY", 0, `"9223372036854775808" is too large (more than 2^63-1 minor units)`},
		{"922337203685477.5808", "CLF", 0, `"922337203685477.5808" is too large (more than 2^63-1 minor units)`},
		{"-1", "EUR", 0, `"-1" is negative; amounts are not`},
		{"+1", "EUR", 0, `"+1" is not a decimal amount such as "42.50" (digits, optionally "." and more digits)`},
		{"1e2", "EUR", 0, `"1e2" is not a decimal amount such as "42.50" (digits, optionally "." and more digits)`},
		{"", "EUR", 0, `"" is not a decimal amount such as "42.50" (digits, optionally "." and more digits)`},
		{"١٢", "EUR", 0, `"١٢" is not a decimal amount such as "42.50" (digits, optionally "." and more digits)`},
	} {
		got, err := ParseAmount(c.amount, c.currency)
		if c.rule == "" {
			if err != nil || got != c.want {
				t.Errorf("ParseAmount(%q, %s) = %d, %v; want %d", c.amount, c.currency, got, err, c.want)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeInvalidField || e.Rule != c.rule {
			t.Errorf("ParseAmount(%q, %s) = %d, %v; want rule %q", c.amount, c.currency, got, err, c.rule)
		}
	}
	_, err := ParseAmount("1", "ZZZ")
	if !errors.Is(err, &Error{Code: CodeInvalidField, Field: "currency"}) {
		t.Fatalf("ParseAmount with unknown currency = %v", err)
	}
}

func TestFormatAmount(t *testing.T) {
	for _, c := range []struct {
		minor    int64
		currency string
		want     string
	}{
		{4250, "EUR", "42.50"}, {5, "EUR", "0.05"}, {0, "EUR", "0.00"}, {-5, "EUR", "-0.05"}, {-12345, "EUR", "-123.45"},
		{1500, "JPY", "1500"}, {1250, "KWD", "1.250"}, {1, "CLF", "0.0001"},
		{math.MaxInt64, "EUR", "92233720368547758.07"}, {math.MinInt64, "EUR", "-92233720368547758.08"},
		{42, "ZZZ", "42"},
	} {
		if got := FormatAmount(c.minor, c.currency); got != c.want {
			t.Errorf("FormatAmount(%d, %s) = %q, want %q", c.minor, c.currency, got, c.want)
		}
	}
	// Round trip through every currency.
	for _, code := range Currencies() {
		for _, minor := range []int64{0, 1, 9, 10, 99, 100, 123456789, math.MaxInt64} {
			s := FormatAmount(minor, code)
			back, err := ParseAmount(s, code)
			if err != nil || back != minor {
				t.Fatalf("%s: ParseAmount(FormatAmount(%d)) = %q → %d, %v", code, minor, s, back, err)
			}
		}
	}
}
