print("this line is fine")
def broken(:
    return 1
