console.log("exiting with 0");
process.exit(0);
