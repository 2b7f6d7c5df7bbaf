// One ever-growing file in /box. Rust does not ignore SIGXFSZ, so exceeding
// RLIMIT_FSIZE kills the process with SIGXFSZ (25) -> exit 153 through tini;
// if the tmpfs cap comes first the write fails with ENOSPC and we exit 1.
use std::fs::File;
use std::io::Write;

fn main() {
    let mut f = File::create("/box/fill.bin").expect("create");
    let chunk = vec![0xabu8; 1 << 20];
    let mut written: usize = 0;
    while written < 1 << 30 {
        if let Err(e) = f.write_all(&chunk) {
            println!("DISK_FULL dir=/box err={} after={} MiB", e, written >> 20);
            std::process::exit(1);
        }
        written += chunk.len();
    }
    println!("ESCAPED: wrote 1 GiB");
}
