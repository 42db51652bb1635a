// Package customer is the customers' side of gaspay's accounts: binding a
// WeChat user to the accounts they pay for, the account view they see, and
// the import of accounts from the utility's billing system.
//
// Binding is where strangers probe for other people's accounts, so every
// failure looks the same whether or not the number exists, and failures are
// limited per user and per IP in Redis before any lookup happens.
package customer
