// Socket.IO 4 room relay with the Redis adapter: join a room, send to it (acked).
// No persistence: the peer Hub is compared with. Usage: node socketio_node.js PORT REDIS_URL
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

(async () => {
  const port = Number(process.argv[2]);
  const pub = createClient({ url: process.argv[3] });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const io = new Server(port, { adapter: createAdapter(pub, sub), transports: ["websocket"] });
  io.on("connection", (socket) => {
    socket.on("join", (room, ack) => { socket.join(room); if (ack) ack("ok"); });
    socket.on("send", (room, data, ack) => { io.to(room).emit("message", data); if (ack) ack(1); });
  });
  console.log("peer ready");
})();
