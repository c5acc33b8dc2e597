// Package checkpoint signs the head of the log so that an auditor can
// later prove that the log they find extends the one they saw.
//
// The hash chain of the log (eventstore) shows that no record was changed
// on its own; it cannot show that whoever runs the engine did not rewrite
// the whole log, every hash recomputed. A checkpoint closes that gap: the
// engine signs (sequence, head hash, time) with an Ed25519 key of its own
// (<data>/checkpoint/ed25519.key, made on the first start), and an auditor
// keeps the signed checkpoint, and the public key, where the operator
// cannot reach them. VerifySince later checks that the current log still
// has the signed hash at the signed sequence, with an intact chain from
// there to its head: a rewritten, truncated or reordered history fails,
// naming the sequence.
//
// A checkpoint also carries anchors: the hashes of the records at every
// AnchorEvery-th sequence below its own (at most MaxAnchors of them, the
// stride a power of two). They let VerifySince name where a rewrite
// starts, not only that one happened: exactly the sequence for a
// checkpoint of up to MaxAnchors+1 records, else the stride between the
// last anchor that matches and the first that does not.
//
// # The file
//
// A checkpoint is one JSON object (a file of several, one per line, is a
// list of them):
//
//	{"version":"journey-checkpoint-v1","seq":N,"hash":"<hex SHA-256>","time":"<RFC 3339, UTC>",
//	 "anchor_every":S,"anchors":["<hex>",…],"key":"<base64 Ed25519 public key>","sig":"<base64>"}
//
// anchors[i] is the hash of record (i+1)·S. The signature is Ed25519 over
// the canonical message (Message), version 1:
//
//	journey-checkpoint-v1\n
//	seq <decimal>\n
//	hash <64 lower-case hex>\n
//	time <RFC 3339 with nanoseconds, UTC, trailing zeros cut (Go's RFC3339Nano)>\n
//	anchor <decimal seq> <64 lower-case hex>\n   (one line per anchor, ascending)
//
// Nothing else of the file is signed: key is a hint (an auditor verifies
// with the key they kept), and a file whose version is not
// journey-checkpoint-v1 is refused.
package checkpoint

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/journey-cdp/journey/internal/jsonerr"
)

// Version is the checkpoint format and the first line of its signed message.
const Version = "journey-checkpoint-v1"

// MaxAnchors is the most anchors a checkpoint carries.
const MaxAnchors = 64

// Checkpoint is a signed head of the log.
type Checkpoint struct {
	Version     string    `json:"version"`
	Seq         uint64    `json:"seq"`
	Hash        string    `json:"hash"` // hex SHA-256 chain hash of record Seq
	Time        time.Time `json:"time"`
	AnchorEvery uint64    `json:"anchor_every,omitempty"`
	Anchors     []string  `json:"anchors,omitempty"` // hex hash of record (i+1)*AnchorEvery
	Key         string    `json:"key"`               // base64 Ed25519 public key of the signer
	Sig         string    `json:"sig"`               // base64 Ed25519 signature of Message()
}

// anchorStride is the stride of the anchors below seq: the smallest power
// of two that leaves at most MaxAnchors of them.
func anchorStride(seq uint64) uint64 {
	s := uint64(1)
	for seq > 0 && (seq-1)/s > MaxAnchors {
		s <<= 1
	}
	return s
}

// AnchorSeqs are the sequences whose hashes a checkpoint of seq carries.
func AnchorSeqs(seq uint64) (stride uint64, seqs []uint64) {
	stride = anchorStride(seq)
	for a := stride; a < seq; a += stride {
		seqs = append(seqs, a)
	}
	return stride, seqs
}

// Message is the canonical signed message (see the package doc).
func (c *Checkpoint) Message() []byte {
	var b bytes.Buffer
	b.WriteString(Version + "\n")
	b.WriteString("seq " + strconv.FormatUint(c.Seq, 10) + "\n")
	b.WriteString("hash " + strings.ToLower(c.Hash) + "\n")
	b.WriteString("time " + c.Time.UTC().Format(time.RFC3339Nano) + "\n")
	for i, h := range c.Anchors {
		b.WriteString("anchor " + strconv.FormatUint(uint64(i+1)*c.AnchorEvery, 10) + " " + strings.ToLower(h) + "\n")
	}
	return b.Bytes()
}

// anchor returns the anchor hashes as (seq, hash) pairs; an error names
// a malformed one.
func (c *Checkpoint) anchors() ([]uint64, [][32]byte, error) {
	if len(c.Anchors) > 0 && c.AnchorEvery == 0 {
		return nil, nil, errors.New(`checkpoint: "anchor_every" is 0 but there are anchors`)
	}
	seqs := make([]uint64, len(c.Anchors))
	hashes := make([][32]byte, len(c.Anchors))
	for i, h := range c.Anchors {
		seqs[i] = uint64(i+1) * c.AnchorEvery
		if seqs[i] >= c.Seq {
			return nil, nil, fmt.Errorf("checkpoint: anchor %d (sequence %d) is not below the checkpoint's sequence %d", i, seqs[i], c.Seq)
		}
		v, err := decodeHash(h)
		if err != nil {
			return nil, nil, fmt.Errorf("checkpoint: anchor %d: %w", i, err)
		}
		hashes[i] = v
	}
	return seqs, hashes, nil
}

func decodeHash(s string) ([32]byte, error) {
	var h [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("%q is not a 64-digit hex SHA-256", s)
	}
	copy(h[:], b)
	return h, nil
}

// HeadHash is the checkpoint's hash as bytes.
func (c *Checkpoint) HeadHash() ([32]byte, error) {
	h, err := decodeHash(c.Hash)
	if err != nil {
		return h, fmt.Errorf(`checkpoint: "hash": %w`, err)
	}
	return h, nil
}

// PublicKey is the key the checkpoint says signed it (not to be trusted
// on its own: see Verify).
func (c *Checkpoint) PublicKey() (ed25519.PublicKey, error) {
	k, err := ParsePublicKey(c.Key)
	if err != nil {
		return nil, fmt.Errorf(`checkpoint: "key": %w`, err)
	}
	return k, nil
}

// ErrBadSignature: the signature does not verify under the key.
var ErrBadSignature = errors.New("checkpoint: the signature does not verify")

// Verify checks the checkpoint's form and its signature under pub; an
// error names what is wrong (ErrBadSignature for the signature itself).
func (c *Checkpoint) Verify(pub ed25519.PublicKey) error {
	if c.Version != Version {
		return fmt.Errorf(`checkpoint: "version" is %q, want %q`, c.Version, Version)
	}
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("checkpoint: the public key is %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	if _, err := c.HeadHash(); err != nil {
		return err
	}
	sig, err := base64.StdEncoding.DecodeString(c.Sig)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf(`checkpoint: "sig" is not a base64 Ed25519 signature`)
	}
	if !ed25519.Verify(pub, c.Message(), sig) {
		return ErrBadSignature
	}
	_, _, err = c.anchors() // signed, so only a signer's bug
	return err
}

// Marshal is the checkpoint as one line of JSON.
func (c *Checkpoint) Marshal() ([]byte, error) {
	b, err := json.Marshal(c, json.Deterministic(true))
	return append(b, '\n'), err
}

// Parse reads one or more checkpoints: a JSON object, or JSON lines of
// them (the engine's history file).
func Parse(b []byte) ([]Checkpoint, error) {
	var cps []Checkpoint
	line := 0
	for rest := b; len(bytes.TrimSpace(rest)) > 0; {
		var l []byte
		l, rest, _ = bytes.Cut(rest, []byte("\n"))
		line++
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		var c Checkpoint
		if err := json.Unmarshal(l, &c); err != nil {
			if line == 1 {
				// Perhaps one indented object over several lines.
				if err2 := json.Unmarshal(b, &c); err2 == nil {
					return []Checkpoint{c}, nil
				}
			}
			return nil, fmt.Errorf("line %d is not a checkpoint: %s", line, jsonerr.Describe(err))
		}
		cps = append(cps, c)
	}
	if len(cps) == 0 {
		return nil, errors.New("no checkpoint in the input")
	}
	return cps, nil
}

// ReadFile reads the checkpoints of a file (see Parse).
func ReadFile(path string) ([]Checkpoint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cps, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cps, nil
}

// EncodePublicKey is the text form of a public key: standard base64.
func EncodePublicKey(k ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(k) }

// ParsePublicKey reads a public key in standard or URL base64 or in hex
// (surrounding space ignored).
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	for _, dec := range []func(string) ([]byte, error){
		base64.StdEncoding.DecodeString, base64.RawStdEncoding.DecodeString,
		base64.URLEncoding.DecodeString, base64.RawURLEncoding.DecodeString, hex.DecodeString,
	} {
		if b, err := dec(s); err == nil && len(b) == ed25519.PublicKeySize {
			return ed25519.PublicKey(b), nil
		}
	}
	// The text is not echoed: what was given may be a private key.
	if strings.Contains(s, "PRIVATE KEY") {
		return nil, errors.New("the value is a private key, not an Ed25519 public key (journey checkpoint key prints the public one)")
	}
	return nil, fmt.Errorf("the value (%d characters) is not an Ed25519 public key (32 bytes in base64 or hex)", len(s))
}
