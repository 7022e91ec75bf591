// Compile-only reference stubs of the NetMQ 4 (and AsyncIO) members FacecastClient.cs uses; never run,
// every body throws. See UnityEngine.cs for the rules. The extension methods are declared with all their
// overloads of the same name that take a byte array or a string, as in NetMQ, so the compiler resolves
// socket.TrySendFrame(byte[]) and socket.TryReceiveFrameBytes(TimeSpan, out byte[]) among the real
// candidates. IOutgoingSocket / IReceivingSocket are declared without their members (TrySend/TryReceive
// on a Msg), which the sample never calls; NetMQSocket's other interfaces are left out.
//
// Where each signature was checked (zeromq/netmq, read with read_file at the commits given):
//   NetMQConfig (static class, namespace NetMQ): static void Cleanup(bool block = true)
//                                        src/NetMQ/NetMQConfig.cs @ 8473a54a
//   DealerSocket : NetMQSocket (namespace NetMQ.Sockets): DealerSocket(string connectionString = null)
//                                        src/NetMQ/Sockets/DealerSocket.cs @ 8473a54a
//   NetMQSocket (abstract, : IOutgoingSocket, IReceivingSocket, ISocketPollable, IDisposable):
//     SocketOptions Options {get;}; void Connect(string address); void Dispose()
//                                        src/NetMQ/NetMQSocket.cs @ bc495320
//   SocketOptions (class): TimeSpan Linger {get;set;}   src/NetMQ/SocketOptions.cs @ c695ec45
//   OutgoingSocketExtensions (static class): bool TrySendFrame(this IOutgoingSocket socket, byte[] data, bool more = false),
//     (…, byte[] data, int length, bool more = false), (…, TimeSpan timeout, byte[] data, bool more = false),
//     (…, TimeSpan timeout, byte[] data, int length, bool more = false), (…, string message, bool more = false),
//     (…, TimeSpan timeout, string message, bool more = false)
//                                        src/NetMQ/OutgoingSocketExtensions.cs @ f2d5221b
//   ReceivingSocketExtensions (static class): bool TryReceiveFrameBytes(this IReceivingSocket socket, out byte[] bytes),
//     (…, out byte[] bytes, out bool more), (…, TimeSpan timeout, out byte[] bytes),
//     (…, TimeSpan timeout, out byte[] bytes, out bool more)
//                                        src/NetMQ/ReceivingSocketExtensions.cs @ 8473a54a
//   AsyncIO.ForceDotNet (static class): static void Force()
//                                        somdoron/AsyncIO Source/AsyncIO/ForceDotNet.cs
using System;

namespace AsyncIO
{
    public static class ForceDotNet
    {
        public static void Force() { throw new NotImplementedException(); }
    }
}

namespace NetMQ
{
    public interface IOutgoingSocket { }

    public interface IReceivingSocket { }

    public static class NetMQConfig
    {
        public static void Cleanup(bool block = true) { throw new NotImplementedException(); }
    }

    public class SocketOptions
    {
        public SocketOptions(NetMQSocket socket) { throw new NotImplementedException(); }
        public TimeSpan Linger { get { throw new NotImplementedException(); } set { throw new NotImplementedException(); } }
    }

    public abstract class NetMQSocket : IOutgoingSocket, IReceivingSocket, IDisposable
    {
        internal NetMQSocket() { }
        public SocketOptions Options { get { throw new NotImplementedException(); } }
        public void Connect(string address) { throw new NotImplementedException(); }
        public void Dispose() { throw new NotImplementedException(); }
    }

    public static class OutgoingSocketExtensions
    {
        public static bool TrySendFrame(this IOutgoingSocket socket, TimeSpan timeout, byte[] data, int length, bool more = false) { throw new NotImplementedException(); }
        public static bool TrySendFrame(this IOutgoingSocket socket, TimeSpan timeout, byte[] data, bool more = false) { throw new NotImplementedException(); }
        public static bool TrySendFrame(this IOutgoingSocket socket, byte[] data, bool more = false) { throw new NotImplementedException(); }
        public static bool TrySendFrame(this IOutgoingSocket socket, byte[] data, int length, bool more = false) { throw new NotImplementedException(); }
        public static bool TrySendFrame(this IOutgoingSocket socket, TimeSpan timeout, string message, bool more = false) { throw new NotImplementedException(); }
        public static bool TrySendFrame(this IOutgoingSocket socket, string message, bool more = false) { throw new NotImplementedException(); }
    }

    public static class ReceivingSocketExtensions
    {
        public static bool TryReceiveFrameBytes(this IReceivingSocket socket, out byte[] bytes) { throw new NotImplementedException(); }
        public static bool TryReceiveFrameBytes(this IReceivingSocket socket, out byte[] bytes, out bool more) { throw new NotImplementedException(); }
        public static bool TryReceiveFrameBytes(this IReceivingSocket socket, TimeSpan timeout, out byte[] bytes) { throw new NotImplementedException(); }
        public static bool TryReceiveFrameBytes(this IReceivingSocket socket, TimeSpan timeout, out byte[] bytes, out bool more) { throw new NotImplementedException(); }
    }
}

namespace NetMQ.Sockets
{
    public class DealerSocket : NetMQSocket
    {
        public DealerSocket(string connectionString = null) { throw new NotImplementedException(); }
    }
}
