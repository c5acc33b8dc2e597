package customer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	journey "github.com/journey-cdp/journey"
)

// Money leaves the engine as it came in: in JSON (HTTP and NATS answers,
// `journey customer --json`, JSONL exports) a Money is an object of
// currency → decimal string in the currency's ISO 4217 exponent, the form
// events carry ({"EUR":"1370.56","JPY":"1500"}), never minor units. The
// state keeps integer minor units inside the engine.

// MarshalJSON writes m as {"CUR":"decimal",…}, currencies sorted.
func (m Money) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 2+len(m)*20)
	b = append(b, '{')
	for i, cur := range m.currencies() {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, cur)
		b = append(b, ':', '"')
		b = append(b, journey.FormatAmount(m[cur], cur)...)
		b = append(b, '"')
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads what MarshalJSON writes: an object of currency →
// decimal string (an ISO 4217 code and an amount with at most its
// exponent's decimals, as journey.ParseAmount reads; a leading "-" for a
// net amount below zero), or null.
func (m *Money) UnmarshalJSON(b []byte) error {
	if string(bytes.TrimSpace(b)) == "null" {
		*m = nil
		return nil
	}
	var raw map[string]string
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("money is an object of currency → decimal string such as {\"EUR\":\"42.50\"}")
	}
	out := make(Money, len(raw))
	for cur, s := range raw {
		neg := strings.HasPrefix(s, "-")
		v, err := journey.ParseAmount(strings.TrimPrefix(s, "-"), cur)
		if err != nil {
			return fmt.Errorf("money %s %q: %w", cur, s, err)
		}
		if neg {
			v = -v
		}
		out[cur] = v
	}
	*m = out
	return nil
}

// String formats m as "1370.56 EUR, 3.00 USD" (currencies sorted; "" when
// empty): the CSV exports' and the CLI's form.
func (m Money) String() string {
	parts := make([]string, 0, len(m))
	for _, cur := range m.currencies() {
		parts = append(parts, journey.FormatAmount(m[cur], cur)+" "+cur)
	}
	return strings.Join(parts, ", ")
}

// Major returns m in major units of each currency as doubles (1370.56 for
// 137056 EUR minor units, 1500 for 1500 JPY): what CEL rules see. The
// double is the one nearest the decimal string (the same a CEL literal
// 1370.56 parses to, so == and >= against literals behave).
func (m Money) Major() map[string]float64 {
	out := make(map[string]float64, len(m))
	for cur, v := range m {
		f, _ := strconv.ParseFloat(journey.FormatAmount(v, cur), 64)
		out[cur] = f
	}
	return out
}

func (m Money) currencies() []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
