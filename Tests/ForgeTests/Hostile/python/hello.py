print("Hello, Talos!")
