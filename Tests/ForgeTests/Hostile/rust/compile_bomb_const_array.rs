// Compile-time bomb: a 2 GiB static that const evaluation must build in
// memory and codegen must emit as initialised data.
static BIG: [u8; 1 << 31] = [7u8; 1 << 31];

fn main() {
    let i = std::env::args().count();
    println!("ESCAPED: {}", BIG[i]);
}
