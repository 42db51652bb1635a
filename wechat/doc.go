// Package wechat is gaspay's client of the WeChat API (api.weixin.qq.com):
// mini-program login, official-account OAuth, the access token shared by all
// replicas, JS-SDK signatures and template messages. WeChat Pay lives in the
// wxpay subpackage.
//
// It is written here rather than taken from an SDK because the SDKs at hand
// keep a process-wide HTTP client without a timeout, put the AppSecret in
// their error strings, or do not speak stable_token. This client has a
// configurable base URL (a fake stands in for WeChat in tests and in the
// sandbox), a timeout on every call, and never lets the AppSecret reach an
// error, a log line or a URL it reports.
//
// It depends on nothing of gaspay's but the TokenCache interface it defines.
package wechat
