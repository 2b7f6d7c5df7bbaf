// Allocate and touch 64 MiB vectors until the memory cgroup kills us.
fn main() {
    let mut keep: Vec<Vec<u8>> = Vec::new();
    for i in 0..64 {
        keep.push(vec![(i as u8).wrapping_add(1); 64 << 20]);
    }
    println!("ESCAPED: holding {} MiB", keep.len() * 64);
}
