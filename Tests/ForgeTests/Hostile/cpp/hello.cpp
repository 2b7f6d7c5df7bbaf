// C++20: concepts, ranges, designated initializers.
#include <concepts>
#include <iostream>
#include <numeric>
#include <ranges>
#include <string>
#include <vector>

template <std::integral T>
T square(T value) { return value * value; }

struct Greeting {
    std::string who;
    int times;
};

int main() {
    Greeting greeting{.who = "Talos", .times = 1};
    auto squares = std::views::iota(1, 5) | std::views::transform(square<int>);
    std::vector<int> values(squares.begin(), squares.end());
    std::cout << "Hello, " << greeting.who << "! " << std::accumulate(values.begin(), values.end(), 0) << "\n";
    return 0;
}
