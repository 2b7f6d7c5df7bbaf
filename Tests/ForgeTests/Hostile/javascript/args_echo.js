const args = process.argv.slice(2);
console.log(String(args.length));
for (const a of args) console.log("[" + a + "]");
