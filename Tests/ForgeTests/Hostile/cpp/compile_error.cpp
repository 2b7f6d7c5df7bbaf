#include <concepts>

template <std::integral T>
T half(T value) { return value / 2; }

int main() { return half(1.5); }
