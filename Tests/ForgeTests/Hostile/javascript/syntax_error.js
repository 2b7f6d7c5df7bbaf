console.log("this line is never reached");
function broken( {
  return 1;
}
