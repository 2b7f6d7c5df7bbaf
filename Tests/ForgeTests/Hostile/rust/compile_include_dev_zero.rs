// Compile-time read of an endless file: include_bytes! makes rustc read
// /dev/zero into memory until the compile box's limits stop it.
static DATA: &[u8] = include_bytes!("/dev/zero");

fn main() {
    println!("ESCAPED: {}", DATA.len());
}
