// Preloaded into LocalStack's Node processes (NODE_OPTIONS=--require ...):
// kinesis-local listens on 0.0.0.0 with no setting to change it, so rewrite
// wildcard listen() hosts to 127.0.0.1 and keep every port on loopback.
"use strict";
const net = require("net");
const WILDCARD = new Set([undefined, null, "", "0.0.0.0", "::", "::0"]);
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const first = args[0];
  if (first !== null && typeof first === "object" && !Array.isArray(first)) {
    // listen(options[, callback]); a unix path or a handle has no host
    if (first.path === undefined && first.handle === undefined && first._handle === undefined
        && first.fd === undefined && WILDCARD.has(first.host)) {
      args[0] = Object.assign({}, first, { host: "127.0.0.1" });
    }
  } else if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
    // listen(port[, host][, backlog][, callback])
    if (typeof args[1] !== "string" || WILDCARD.has(args[1])) {
      if (typeof args[1] === "string" || args[1] === undefined || args[1] === null) {
        args[1] = "127.0.0.1";
      } else {
        args.splice(1, 0, "127.0.0.1");
      }
    }
  }
  return listen.apply(this, args);
};
