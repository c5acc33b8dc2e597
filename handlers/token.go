package handlers

// validToken reports whether s can be one NATS subject token as the event
// contract allows customer ids: 1–128 bytes of ASCII letters, digits and
// _ - : @.
func validToken(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_', c == '-', c == ':', c == '@':
		default:
			return false
		}
	}
	return true
}
