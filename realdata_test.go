package journey

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sharedData returns the path of a file of the shared real data sets,
// skipping the test when they are absent.
func sharedData(t *testing.T, parts ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{"..", "shared", "data"}, parts...)...)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("real data %s not present (%v): skipping", p, err)
	}
	return p
}

// TestRealCDNOW turns every CDNOW purchase into a purchase event with
// NewEvent, decodes it, and checks the money is exact: the sum of the
// decoded minor units equals the sum of the file's dollar values rounded to
// cents one by one.
func TestRealCDNOW(t *testing.T) {
	f, err := os.Open(sharedData(t, "cdnow", "CDNOW_master.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var n, cents, floatCents int64
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 4 || fs[0] == "customer_id" {
			continue
		}
		day, err := time.Parse("20060102", fs[1])
		if err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		items, _ := strconv.Atoi(fs[2])
		raw, err := NewEvent(fmt.Sprintf("cdnow-%d", n), "import/cdnow", KindPurchase, "cdnow-"+fs[0], day,
			map[string]any{"order_id": fmt.Sprintf("cdnow-%d", n), "amount": fs[3], "currency": "USD", "items": items})
		if err != nil {
			t.Fatalf("line %q: NewEvent: %v", sc.Text(), err)
		}
		ev, err := Decode(raw, time.Now())
		if err != nil {
			t.Fatalf("line %q: Decode: %v", sc.Text(), err)
		}
		if ev.Data.Items != items || ev.Subject != "cdnow-"+fs[0] || !ev.Time.Equal(day) {
			t.Fatalf("line %q decoded to %+v", sc.Text(), ev)
		}
		v, _ := strconv.ParseFloat(fs[3], 64)
		floatCents += int64(math.Round(v * 100))
		cents += ev.Data.Amount
		n++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 69659 {
		t.Fatalf("decoded %d purchases, the data set has 69659", n)
	}
	if cents != floatCents {
		t.Fatalf("sum of decoded amounts %d cents, of the file's values %d", cents, floatCents)
	}
	t.Logf("%d purchases, total %s USD", n, FormatAmount(cents, "USD"))
}

// TestRealOnlineRetail turns the UCI Online Retail baskets into purchase and
// return events (a return's negative amount becomes a non-negative return
// amount) and checks every one decodes with the exact amount.
func TestRealOnlineRetail(t *testing.T) {
	f, err := os.Open(sharedData(t, "online_retail", "baskets_2010-12-01_2011-12-09.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	var purchases, returns int
	for line := 0; sc.Scan(); line++ {
		fs := strings.Split(sc.Text(), ",")
		if line == 0 || len(fs) < 6 {
			continue
		}
		ts, err := time.Parse("2006-01-02T15:04:05", fs[1])
		if err != nil {
			t.Fatalf("line %d: %v", line, err)
		}
		amount, kind := fs[3], KindPurchase
		data := map[string]any{"order_id": fmt.Sprintf("uci-%d", line), "currency": "GBP", "channel": "web"}
		if fs[4] == "1" {
			kind, amount = KindReturn, strings.TrimPrefix(amount, "-")
			data["kind"] = "refund"
			returns++
		} else {
			data["items"], _ = strconv.Atoi(fs[2])
			purchases++
		}
		data["amount"] = amount
		raw, err := NewEvent(fmt.Sprintf("uci-%d", line), "import/uci-online-retail", kind, "uci-"+fs[0], ts, data)
		if err != nil {
			t.Fatalf("line %d %q: %v", line, sc.Text(), err)
		}
		ev, err := DecodeStored(raw)
		if err != nil {
			t.Fatalf("line %d: %v", line, err)
		}
		want, err := ParseAmount(amount, "GBP")
		if err != nil || ev.Data.Amount != want || FormatAmount(want, "GBP") != normalizeGBP(amount) {
			t.Fatalf("line %d: amount %q decoded to %d (ParseAmount %d, %v)", line, amount, ev.Data.Amount, want, err)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if purchases+returns != 22094 || returns == 0 {
		t.Fatalf("%d purchases + %d returns, the data set has 22094 baskets", purchases, returns)
	}
}

// normalizeGBP writes an amount of the data set with two decimals.
func normalizeGBP(s string) string {
	whole, frac, _ := strings.Cut(s, ".")
	return whole + "." + (frac + "00")[:2]
}
