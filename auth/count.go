package auth

// CountHTTP counts a refusal of an HTTP request to route that was checked
// with Check rather than through Route (the web page's pages), under the
// same journey_http_refusals_total{route,reason}.
func (a *Authorizer) CountHTTP(route string, r *Refusal) {
	a.http.WithLabelValues(route, r.Reason).Inc()
}
