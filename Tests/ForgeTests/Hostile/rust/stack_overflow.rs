// Unbounded recursion: Rust's guard page handler prints "has overflowed its
// stack" and aborts (SIGABRT), reported through tini as exit 134.
fn recurse(n: u64, buf: &mut [u8; 4096]) -> u64 {
    let mut local = [0u8; 4096];
    local[(n % 4096) as usize] = buf[0].wrapping_add(1);
    recurse(n + 1, &mut local) + local[0] as u64
}

fn main() {
    println!("before");
    let mut b = [0u8; 4096];
    println!("ESCAPED: {}", recurse(0, &mut b));
}
