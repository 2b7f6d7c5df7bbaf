fn main() {
    println!("before");
    let v: Vec<i32> = Vec::new();
    let i = std::env::args().count() + 6;
    println!("{}", v[i]); // index out of bounds -> panic, exit status 101
}
