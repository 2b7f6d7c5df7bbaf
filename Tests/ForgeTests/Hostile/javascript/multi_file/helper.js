module.exports = {
  CONSTANT: 42,
  greet: (name) => "hello from helper, " + name,
};
