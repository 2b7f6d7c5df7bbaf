CONSTANT = 42


def greet(name):
    return "hello from helper, " + name
