// Compile-only reference stubs of the MessagePack-CSharp v2 members FacecastClient.cs uses; never run,
// every body throws. See UnityEngine.cs for the rules. Serialize<T> and Deserialize<T> are declared with
// their sibling overloads that a two-argument call could bind to, as in MessagePack-CSharp, so
// Serialize(dictionary, options) and Deserialize<T>(byte[], options) resolve among the real candidates
// (byte[] reaches Deserialize<T>(ReadOnlyMemory<byte>, ...) through ReadOnlyMemory's implicit conversion).
// The ref MessagePackWriter / ref MessagePackReader overloads, the async ones and IFormatterResolver
// (which ContractlessStandardResolver implements) are left out: no call of the sample can bind to them.
// Deserialize<T>(in ReadOnlySequence<byte>, ...) needs C# 7.2 (`in`), hence mcs -langversion:7.2.
//
// Where each signature was checked (MessagePack-CSharp/MessagePack-CSharp, read with read_file; the Unity
// package's copy of the v2 sources, src/MessagePack.UnityClient/Assets/Scripts/MessagePack/):
//   MessagePackSerializer (static partial class, namespace MessagePack):
//     static byte[] Serialize<T>(T value, MessagePackSerializerOptions options = null, CancellationToken cancellationToken = default)
//     static void Serialize<T>(IBufferWriter<byte> writer, T value, MessagePackSerializerOptions options = null, CancellationToken cancellationToken = default)
//     static void Serialize<T>(Stream stream, T value, MessagePackSerializerOptions options = null, CancellationToken cancellationToken = default)
//     static T Deserialize<T>(ReadOnlyMemory<byte> buffer, MessagePackSerializerOptions options = null, CancellationToken cancellationToken = default)
//     static T Deserialize<T>(ReadOnlyMemory<byte> buffer, out int bytesRead, CancellationToken cancellationToken = default)
//     static T Deserialize<T>(ReadOnlyMemory<byte> buffer, MessagePackSerializerOptions options, out int bytesRead, CancellationToken cancellationToken = default)
//     static T Deserialize<T>(in ReadOnlySequence<byte> byteSequence, MessagePackSerializerOptions options = null, CancellationToken cancellationToken = default)
//     static T Deserialize<T>(Stream stream, MessagePackSerializerOptions options = null, CancellationToken cancellationToken = default)
//                                        MessagePackSerializer.cs @ 6edce561
//   MessagePackSerializerOptions (public class, namespace MessagePack)   MessagePackSerializerOptions.cs @ da3176e8
//   MessagePackSerializationException (public class : Exception, namespace MessagePack)
//                                        MessagePackSerializationException.cs @ 0c105322
//   ContractlessStandardResolver (public sealed class, namespace MessagePack.Resolvers):
//     public static readonly MessagePackSerializerOptions Options (a field); private ctor
//                                        Resolvers/StandardResolver.cs @ f5e27ee6
using System;
using System.Buffers;
using System.IO;
using System.Threading;

namespace MessagePack
{
    public class MessagePackSerializerOptions
    {
        protected MessagePackSerializerOptions(MessagePackSerializerOptions copyFrom) { throw new NotImplementedException(); }
    }

    public class MessagePackSerializationException : Exception
    {
        public MessagePackSerializationException() { throw new NotImplementedException(); }
    }

    public static partial class MessagePackSerializer
    {
        public static void Serialize<T>(IBufferWriter<byte> writer, T value, MessagePackSerializerOptions options = null, CancellationToken cancellationToken = default(CancellationToken)) { throw new NotImplementedException(); }
        public static byte[] Serialize<T>(T value, MessagePackSerializerOptions options = null, CancellationToken cancellationToken = default(CancellationToken)) { throw new NotImplementedException(); }
        public static void Serialize<T>(Stream stream, T value, MessagePackSerializerOptions options = null, CancellationToken cancellationToken = default(CancellationToken)) { throw new NotImplementedException(); }

        public static T Deserialize<T>(in ReadOnlySequence<byte> byteSequence, MessagePackSerializerOptions options = null, CancellationToken cancellationToken = default(CancellationToken)) { throw new NotImplementedException(); }
        public static T Deserialize<T>(ReadOnlyMemory<byte> buffer, MessagePackSerializerOptions options = null, CancellationToken cancellationToken = default(CancellationToken)) { throw new NotImplementedException(); }
        public static T Deserialize<T>(ReadOnlyMemory<byte> buffer, out int bytesRead, CancellationToken cancellationToken = default(CancellationToken)) { throw new NotImplementedException(); }
        public static T Deserialize<T>(ReadOnlyMemory<byte> buffer, MessagePackSerializerOptions options, out int bytesRead, CancellationToken cancellationToken = default(CancellationToken)) { throw new NotImplementedException(); }
        public static T Deserialize<T>(Stream stream, MessagePackSerializerOptions options = null, CancellationToken cancellationToken = default(CancellationToken)) { throw new NotImplementedException(); }
    }
}

namespace MessagePack.Resolvers
{
    public sealed class ContractlessStandardResolver
    {
        public static readonly MessagePackSerializerOptions Options;

        private ContractlessStandardResolver() { }
    }
}
