// Compile-time infinite loop in const evaluation: rustc's interpreter must
// give up (const_eval_limit) instead of spinning until the compile wall limit.
const SPIN: u64 = {
    let mut i: u64 = 0;
    let mut x: u64 = 1;
    while i < u64::MAX {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        i += 1;
    }
    x
};

fn main() {
    println!("ESCAPED: {}", SPIN);
}
