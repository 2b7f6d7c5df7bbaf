int main(void) {
    int x = "not a number" * 2;
    return x;
}
