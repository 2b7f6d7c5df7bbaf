const chunks = [];
process.stdin.on("data", (c) => chunks.push(c));
process.stdin.on("end", () => process.stdout.write(Buffer.concat(chunks)));
