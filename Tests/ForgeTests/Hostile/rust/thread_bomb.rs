// Spawn sleeping threads until the pids cgroup refuses; std::thread::spawn
// panics on the failure ("failed to spawn thread"), so the exit status is 101.
use std::{thread, time::Duration};

fn main() {
    let mut handles = Vec::new();
    for _ in 0..100_000 {
        handles.push(thread::spawn(|| thread::sleep(Duration::from_secs(3600))));
    }
    println!("ESCAPED: {} threads", handles.len());
}
