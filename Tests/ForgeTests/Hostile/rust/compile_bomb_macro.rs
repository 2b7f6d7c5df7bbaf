// Compile-time bomb: every expansion emits two copies of itself minus one
// token, so 32 tokens expand to 2^32 statements. The recursion depth stays at
// 32 (below recursion_limit), so only the compile limits can stop it.
macro_rules! boom {
    () => { std::hint::black_box(1u8); };
    (x $($rest:tt)*) => { boom!($($rest)*); boom!($($rest)*); };
}

fn main() {
    boom!(x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x);
    println!("ESCAPED: compiled");
}
