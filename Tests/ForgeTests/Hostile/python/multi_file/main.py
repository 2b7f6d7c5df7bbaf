from helper import greet, CONSTANT

print(greet("Forge"), CONSTANT)
