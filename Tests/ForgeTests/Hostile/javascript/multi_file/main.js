const { greet, CONSTANT } = require("./helper.js");
console.log(greet("Forge"), CONSTANT);
