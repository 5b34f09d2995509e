// Package scripts is Daogou's library of canned scripts: the short, ready
// replies a sales agent sends with one shortcut (greet, probe, recommend,
// answer an objection, close, confirm the order, say goodbye, handle a
// complaint), and the messages the server sends on its own (the welcome,
// "you are number 3 in line", "your advisor will answer in a moment").
//
// The built-in library is embedded from library/<locale>.json in zh-CN and
// en; a shop may replace it with its own directory of files in the same
// format (Load with os.DirFS). Either way everything is checked when it is
// loaded, and a library that is missing scripts, or has a typo in a
// placeholder, a category or a kind, is refused with one error per problem,
// so the server fails at start-up rather than in front of a shopper.
//
// Texts carry placeholders written {shop_name}; Render and Fill put the
// values in. The package is pure: it reads only the fs.FS it is given, holds
// no global state, and a *Library never changes after loading, so it is safe
// for concurrent use.
package scripts
