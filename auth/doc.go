// Package auth logs customers in through WeChat and keeps their sessions.
//
// Sessions are opaque tokens of gaspay's own, stored in Redis with a TTL so
// that every replica honours them and any of them can revoke them; Redis
// holds only a hash of each token, so a copy of Redis is no login. A
// mini-program's session_key stays beside the session and never leaves the
// server.
//
// The official account logs in through WeChat OAuth (snsapi_base). Its state
// parameter is single-use and bound to a cookie of the browser that started
// the login, so a code cannot be injected into somebody else's browser, and
// the page it returns to is checked against an allow-list of local paths.
package auth
