// A real fault from the MMU: SIGSEGV (11), reported through tini as exit 139.
fn main() {
    println!("before");
    let p = std::env::args().count() as *mut u64; // 1: an unmapped address
    unsafe { std::ptr::write_volatile(p, 42) };
    println!("ESCAPED: wrote to address 1");
}
