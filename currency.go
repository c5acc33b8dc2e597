package journey

import (
	"strconv"
	"strings"
)

// iso4217 lists the ISO 4217 currencies that money in events may use, each
// with its exponent (the number of minor-unit digits): every code of the
// current ISO 4217 list A.1 with a minor unit, plus a few recently withdrawn
// ones that historic data still carries (ANG, CUC, HRK, SLL, ZWL). Codes
// without a minor unit (precious metals, XDR, XTS, XXX, bond units) are not
// money here.
const iso4217 = "" +
	"AED:2 AFN:2 ALL:2 AMD:2 ANG:2 AOA:2 ARS:2 AUD:2 AWG:2 AZN:2 BAM:2 BBD:2 BDT:2 BGN:2 BHD:3 BIF:0 " +
	"BMD:2 BND:2 BOB:2 BOV:2 BRL:2 BSD:2 BTN:2 BWP:2 BYN:2 BZD:2 CAD:2 CDF:2 CHE:2 CHF:2 CHW:2 CLF:4 " +
	"CLP:0 CNY:2 COP:2 COU:2 CRC:2 CUC:2 CUP:2 CVE:2 CZK:2 DJF:0 DKK:2 DOP:2 DZD:2 EGP:2 ERN:2 ETB:2 " +
	"EUR:2 FJD:2 FKP:2 GBP:2 GEL:2 GHS:2 GIP:2 GMD:2 GNF:0 GTQ:2 GYD:2 HKD:2 HNL:2 HRK:2 HTG:2 HUF:2 " +
	"IDR:2 ILS:2 INR:2 IQD:3 IRR:2 ISK:0 JMD:2 JOD:3 JPY:0 KES:2 KGS:2 KHR:2 KMF:0 KPW:2 KRW:0 KWD:3 " +
	"KYD:2 KZT:2 LAK:2 LBP:2 LKR:2 LRD:2 LSL:2 LYD:3 MAD:2 MDL:2 MGA:2 MKD:2 MMK:2 MNT:2 MOP:2 MRU:2 " +
	"MUR:2 MVR:2 MWK:2 MXN:2 MXV:2 MYR:2 MZN:2 NAD:2 NGN:2 NIO:2 NOK:2 NPR:2 NZD:2 OMR:3 PAB:2 PEN:2 " +
	"PGK:2 PHP:2 PKR:2 PLN:2 PYG:0 QAR:2 RON:2 RSD:2 RUB:2 RWF:0 SAR:2 SBD:2 SCR:2 SDG:2 SEK:2 SGD:2 " +
	"SHP:2 SLE:2 SLL:2 SOS:2 SRD:2 SSP:2 STN:2 SVC:2 SYP:2 SZL:2 THB:2 TJS:2 TMT:2 TND:3 TOP:2 TRY:2 " +
	"TTD:2 TWD:2 TZS:2 UAH:2 UGX:0 USD:2 USN:2 UYI:0 UYU:2 UYW:4 UZS:2 VED:2 VES:2 VND:0 VUV:0 WST:2 " +
	"XAD:2 XAF:0 XCD:2 XCG:2 XOF:0 XPF:0 YER:2 ZAR:2 ZMW:2 ZWG:2 ZWL:2"

type currency struct {
	code string
	exp  int
}

var (
	currencies []currency          // sorted by code
	currencyAt [26 * 26 * 26]uint8 // letter triple → index+1 in currencies, 0 when unknown
	pow10      = [...]int64{1, 10, 100, 1000, 10000}
)

func init() {
	for _, f := range strings.Fields(iso4217) {
		code, exp, _ := strings.Cut(f, ":")
		e, err := strconv.Atoi(exp)
		if err != nil || len(code) != 3 || e < 0 || e >= len(pow10) {
			panic("journey: bad ISO 4217 table entry " + f)
		}
		currencies = append(currencies, currency{code: code, exp: e})
		currencyAt[currencyIndex(code)] = uint8(len(currencies))
	}
}

// currencyIndex maps three uppercase ASCII letters to 0..17575; the caller
// has checked the letters.
func currencyIndex[T ~string | ~[]byte](s T) int {
	return int(s[0]-'A')*676 + int(s[1]-'A')*26 + int(s[2]-'A')
}

// lookupCurrency returns the table entry of an ISO 4217 code, and false when
// s is not three uppercase letters or not a code of the table.
func lookupCurrency[T ~string | ~[]byte](s T) (currency, bool) {
	if len(s) != 3 {
		return currency{}, false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return currency{}, false
		}
	}
	i := currencyAt[currencyIndex(s)]
	if i == 0 {
		return currency{}, false
	}
	return currencies[i-1], true
}

// CurrencyExponent returns the ISO 4217 exponent of a currency code (2 for
// EUR, 0 for JPY, 3 for KWD, 4 for CLF): how many decimals an amount in it
// may have. ok is false for a code that is not in the built-in table.
func CurrencyExponent(code string) (exp int, ok bool) {
	c, ok := lookupCurrency(code)
	return c.exp, ok
}

// Currencies returns every ISO 4217 code the contract accepts, sorted.
func Currencies() []string {
	out := make([]string, len(currencies))
	for i, c := range currencies {
		out[i] = c.code
	}
	return out
}

// ParseAmount parses a decimal amount such as "42.50" exactly into integer
// minor units of currency, by the currency's ISO 4217 exponent: "42.5" EUR
// is 4250, "1500" JPY is 1500, "1.25" KWD is 1250. The amount is digits
// with an optional "." and at least one fraction digit; fraction digits
// beyond the exponent must be zeros ("1.230" EUR is 123, "1.234" is
// rejected). Signs, exponents, spaces, an empty string and amounts beyond
// int64 minor units are rejected. A rejection is an *Error with
// CodeInvalidField: Field "currency" when the currency is not in the table,
// else an empty Field (the caller knows where the amount came from) and
// the same Rule Decode gives.
func ParseAmount(amount, currency string) (int64, error) {
	c, ok := lookupCurrency(currency)
	if !ok {
		return 0, &Error{Code: CodeInvalidField, Field: "currency", Rule: currencyRule(currency)}
	}
	v, rule := parseAmount(amount, c)
	if rule != "" {
		return 0, &Error{Code: CodeInvalidField, Rule: rule}
	}
	return v, nil
}

// FormatAmount formats integer minor units of currency as the decimal string
// ParseAmount reads: FormatAmount(4250, "EUR") is "42.50", FormatAmount(-5,
// "EUR") is "-0.05". For a code not in the table it formats with exponent 0,
// that is, the minor units themselves.
func FormatAmount(minor int64, currency string) string {
	exp, _ := CurrencyExponent(currency)
	neg := minor < 0
	u := uint64(minor)
	if neg {
		u = -u
	}
	digits := strconv.FormatUint(u, 10)
	if exp > 0 {
		if len(digits) <= exp {
			digits = strings.Repeat("0", exp-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-exp] + "." + digits[len(digits)-exp:]
	}
	if neg {
		return "-" + digits
	}
	return digits
}

// parseAmount parses s as a non-negative decimal into minor units of c. It
// returns the rule s breaks, or "".
func parseAmount[T ~string | ~[]byte](s T, c currency) (int64, string) {
	var v int64
	i, n := 0, len(s)
	if n > 0 && s[0] == '-' {
		if _, rule := parseAmount(s[1:], c); rule == "" {
			return 0, quoteValue(s) + " is negative; amounts are not"
		}
		return 0, notAmountRule(s)
	}
	for ; i < n && isDigit(s[i]); i++ {
		d := int64(s[i] - '0')
		if v > (maxInt64-d)/10 {
			return 0, tooLargeAmountRule(s)
		}
		v = v*10 + d
	}
	if i == 0 {
		return 0, notAmountRule(s)
	}
	frac := 0 // fraction digits taken into v
	if i < n {
		if s[i] != '.' || i+1 == n {
			return 0, notAmountRule(s)
		}
		for i++; i < n; i++ {
			if !isDigit(s[i]) {
				return 0, notAmountRule(s)
			}
			if frac == c.exp {
				if s[i] != '0' {
					// Keep scanning so that "1.2x4" is reported as malformed.
					for j := i + 1; j < n; j++ {
						if !isDigit(s[j]) {
							return 0, notAmountRule(s)
						}
					}
					return 0, quoteValue(s) + " has more decimals than " + c.code + " allows (" + strconv.Itoa(c.exp) + ")"
				}
				continue
			}
			d := int64(s[i] - '0')
			if v > (maxInt64-d)/10 {
				return 0, tooLargeAmountRule(s)
			}
			v = v*10 + d
			frac++
		}
	}
	scale := pow10[c.exp-frac]
	if v > maxInt64/scale {
		return 0, tooLargeAmountRule(s)
	}
	return v * scale, ""
}

const maxInt64 = 1<<63 - 1

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func notAmountRule[T ~string | ~[]byte](s T) string {
	return quoteValue(s) + ` is not a decimal amount such as "42.50" (digits, optionally "." and more digits)`
}

func tooLargeAmountRule[T ~string | ~[]byte](s T) string {
	return quoteValue(s) + " is too large (more than 2^63-1 minor units)"
}

func currencyRule[T ~string | ~[]byte](s T) string {
	return quoteValue(s) + " is not an ISO 4217 currency code (3 uppercase letters such as EUR)"
}

// quoteValue quotes a value for a rule, shortened to 64 bytes.
func quoteValue[T ~string | ~[]byte](s T) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && s[cut]&0xC0 == 0x80 { // do not split a UTF-8 sequence
			cut--
		}
		return strconv.Quote(string(s[:cut])) + "…"
	}
	return strconv.Quote(string(s))
}
