// A 64 MiB initialised static: rustc must emit it as data, so the object
// files and the final binary (~64 MiB each) are written to the compile box's
// output directory, which is a host-backed bind mount, not a tmpfs.
static BIG: [u8; 64 << 20] = [7u8; 64 << 20];

fn main() {
    let i = std::env::args().count();
    println!("big binary ran: {}", BIG[i * 4096] as u32 + BIG[(64 << 20) - i] as u32);
}
