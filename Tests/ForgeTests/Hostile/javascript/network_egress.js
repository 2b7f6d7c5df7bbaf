// Every way out of the box must fail: TCP v4/v6, UDP, DNS (getaddrinfo and
// c-ares), HTTP. Prints one line per attempt, then BLOCKED (exit 0) or ESCAPED.
const net = require("net");
const dgram = require("dgram");
const dns = require("dns");
const http = require("http");
const os = require("os");

function tcp(host) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port: 80, timeout: 3000 });
    s.on("connect", () => { s.destroy(); resolve("OPEN"); });
    s.on("timeout", () => { s.destroy(); resolve("blocked (timeout)"); });
    s.on("error", (e) => resolve("blocked (" + e.code + ")"));
  });
}
function udp() {
  return new Promise((resolve) => {
    const s = dgram.createSocket("udp4");
    s.send(Buffer.alloc(32), 53, "8.8.8.8", (e) => { s.close(); resolve(e ? "blocked (" + e.code + ")" : "OPEN"); });
  });
}
function lookup() {
  return new Promise((resolve) => dns.lookup("example.com", (e, a) => resolve(e ? "blocked (" + e.code + ")" : "OPEN " + a)));
}
function resolve4() {
  return new Promise((resolve) => {
    const r = new dns.Resolver({ timeout: 1000, tries: 1 });
    r.setServers(["8.8.8.8"]);
    r.resolve4("example.com", (e, a) => resolve(e ? "blocked (" + e.code + ")" : "OPEN " + a));
  });
}
function httpGet() {
  return new Promise((resolve) => {
    const req = http.get({ host: "93.184.215.14", port: 80, path: "/", timeout: 3000 }, () => resolve("OPEN"));
    req.on("timeout", () => { req.destroy(); resolve("blocked (timeout)"); });
    req.on("error", (e) => resolve("blocked (" + e.code + ")"));
  });
}
(async () => {
  const results = [
    ["tcp4_connect_1.1.1.1:80", await tcp("1.1.1.1")],
    ["tcp6_connect", await tcp("2606:4700:4700::1111")],
    ["udp4_send_8.8.8.8:53", await udp()],
    ["dns_lookup_example.com", await lookup()],
    ["dns_resolve4_via_8.8.8.8", await resolve4()],
    ["http_get", await httpGet()],
  ];
  const ifs = Object.keys(os.networkInterfaces());
  results.push(["non_lo_interfaces", ifs.every((n) => n === "lo") ? "blocked (" + ifs.join(",") + ")" : "OPEN " + ifs.join(",")]);
  for (const [n, r] of results) console.log(n + ": " + r);
  console.log(results.every(([, r]) => r.startsWith("blocked")) ? "BLOCKED" : "ESCAPED");
})();
