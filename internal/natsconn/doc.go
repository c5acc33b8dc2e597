// Package natsconn starts the embedded NATS server that `journey serve` runs
// by default and connects NATS clients with the options an operator of an
// existing NATS deployment expects (user/password, token, nkey seed, creds
// file, TLS), reconnecting forever when the server goes away.
//
// Nothing here reads flags or the environment: cmd/journey maps its flags
// onto Embedded and Client.
package natsconn
