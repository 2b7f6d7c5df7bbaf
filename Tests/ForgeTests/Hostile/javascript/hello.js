console.log("Hello, Talos!");
