mod helper;

fn main() {
    println!("{} {}", helper::greet("Forge"), helper::CONSTANT);
}
