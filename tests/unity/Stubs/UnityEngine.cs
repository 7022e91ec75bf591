// Compile-only reference stubs of the UnityEngine members the Unity sample uses (unity_sample/Runtime and
// unity_sample/Samples~). They are never run: every body throws. tests/test_unity_sample.py compiles the
// sample against them with mcs, so a misspelt member, a wrong overload or a missing `using` fails the test.
//
// Only what the scripts use is declared, with Unity's own signatures (names, parameter types and order,
// return types, static or instance, property or method, field or property, namespace, sealed or not).
// Where a used method has sibling overloads that take part in overload resolution for the calls made
// (Mathf.Min/Clamp, Debug.LogWarning/LogError, Object.Destroy, Texture2D.Apply, ImageConversion.LoadImage,
// Input.GetKeyDown), those overloads are declared too, so the compiler picks among the real candidates.
// Base classes follow Unity's hierarchy (Object > Component > Behaviour > MonoBehaviour, ...), but
// interfaces and members the scripts do not touch are left out. Target: the package's Unity 2021.3.
//
// Where each signature was checked (Unity-Technologies/UnityCsReference, read with read_file at the commit
// given unless noted; the index keeps one version of each file and does not say which Unity release it is):
//   Object (class; name {get;set;}; GetInstanceID(); static Destroy(Object) and Destroy(Object, float);
//     implicit operator bool(Object); operator ==/!=(Object, Object); Equals/GetHashCode overrides)
//                                        Runtime/Export/Scripting/UnityEngineObject.bindings.cs @ e5f43177
//   Component : Object                   Runtime/Export/Scripting/Component.bindings.cs @ ad90ef46
//   Behaviour : Component; enabled {get;set;}   Runtime/Export/Scripting/Behaviour.bindings.cs @ eb33413c
//   MonoBehaviour : Behaviour            Runtime/Export/Scripting/MonoBehaviour.bindings.cs @ 648610a7
//   Transform : Component; Quaternion localRotation {get;set;}
//                                        Runtime/Transform/ScriptBindings/Transform.bindings.cs @ e5f43177
//   Debug (class): static LogWarning(object) / LogWarning(object, Object), LogError(object) /
//     LogError(object, Object), LogException(Exception) / LogException(Exception, Object)
//                                        Runtime/Export/Debug/Debug.bindings.cs @ 61f92bd7 (LogException @ 0409eee6)
//   Time (class): static float realtimeSinceStartup {get;}   Runtime/Export/Time/Time.bindings.cs @ eb33413c
//   Mathf (struct): static float Clamp(float,float,float), int Clamp(int,int,int), int RoundToInt(float),
//     Min(float,float), Min(params float[]), Min(int,int), Min(params int[])
//                                        Runtime/Export/Math/Mathf.cs @ 4dda4027
//   Quaternion (struct): static Quaternion Euler(float x, float y, float z);
//     static Quaternion operator *(Quaternion lhs, Quaternion rhs)   Runtime/Export/Math/Quaternion.cs @ 61f92bd7
//   Rect (struct): Rect(float x, float y, float width, float height)   Runtime/Export/Geometry/Rect.cs @ 034434ba
//   AudioSettings (sealed class): static double dspTime {get;}
//   AudioClip (sealed, : Object): int samples/channels/frequency {get;}; bool GetData(float[] data, int offsetSamples)
//   AudioBehaviour : Behaviour; AudioSource (sealed, : AudioBehaviour): AudioClip clip {get;set;};
//     int timeSamples {get;set;}; bool isPlaying {get;}; void Stop(); void PlayScheduled(double time)
//   Microphone (sealed class): static AudioClip Start(string deviceName, bool loop, int lengthSec, int frequency);
//     static int GetPosition(string deviceName); static void GetDeviceCaps(string deviceName, out int minFreq,
//     out int maxFreq) (this one checked @ 04d95a59)
//                                        all four: Modules/Audio/Public/ScriptBindings/Audio.bindings.cs @ 37e57698
//   Texture : Object; virtual int width/height {get;set;}
//   Texture2D (sealed, : Texture): TextureFormat format {get;}
//                                        Runtime/Export/Graphics/Texture.bindings.cs (UnityCsReference text,
//                                        found with find_string "extern public TextureFormat format {")
//   Texture2D(int width, int height, TextureFormat textureFormat, bool mipChain); void LoadRawTextureData(byte[] data);
//     void Apply(bool updateMipmaps, bool makeNoLongerReadable), Apply(bool updateMipmaps), Apply()
//                                        Runtime/Export/Graphics/Texture.cs @ 3417c31e
//   ImageConversion (static class): static bool LoadImage(this Texture2D tex, byte[] data, bool markNonReadable),
//     static bool LoadImage(this Texture2D tex, byte[] data)
//                                        Modules/ImageConversion/ScriptBindings/ImageConversion.bindings.cs @ d249bafe
//   TextureFormat (enum): RGB24 = 3, RGBA32 = 4   docs.unity3d.com ScriptReference TextureFormat.RGB24 and
//     docs.unity.com TextureImporterFormat.RGB24/RGBA32 ("TextureFormat.RGB24 ... = 3", "... RGBA32 = 4"),
//     and TextureFormat.RGBA32 as the default of Texture2D's constructors in Runtime/Export/Graphics/Texture.cs
//   Renderer : Component                 Runtime/Export/Graphics/GraphicsRenderers.bindings.cs @ 3417c31e
//   SkinnedMeshRenderer : Renderer (not sealed); Mesh sharedMesh {get;set;}; void SetBlendShapeWeight(int index, float value)
//                                        Runtime/Export/Graphics/GraphicsRenderers.bindings.cs @ 3417c31e
//   Mesh (sealed, : Object): int blendShapeCount {get;}; string GetBlendShapeName(int shapeIndex)
//                                        Runtime/Export/Graphics/Mesh.bindings.cs (UnityCsReference text, found
//                                        with find_string "extern public int blendShapeCount")
//   Input (class): static bool GetKeyDown(KeyCode key), GetKeyDown(string name)   Modules/InputLegacy/Input.bindings.cs @ 1df6aab0
//   KeyCode (enum): Space = 32, M = 109   Runtime/Export/Input/KeyCode.cs @ 806240ef
//   PropertyAttribute (abstract), TooltipAttribute(string tooltip), RangeAttribute(float min, float max) (sealed),
//     all [AttributeUsage(AttributeTargets.Field, Inherited = true, AllowMultiple = false)]
//                                        Runtime/Export/PropertyAttribute.cs @ 2622109a
using System;

namespace UnityEngine
{
    public class Object
    {
        public string name { get { throw new NotImplementedException(); } set { throw new NotImplementedException(); } }
        public int GetInstanceID() { throw new NotImplementedException(); }
        public static void Destroy(Object obj, float t) { throw new NotImplementedException(); }
        public static void Destroy(Object obj) { throw new NotImplementedException(); }
        public static implicit operator bool(Object exists) { throw new NotImplementedException(); }
        public static bool operator ==(Object x, Object y) { throw new NotImplementedException(); }
        public static bool operator !=(Object x, Object y) { throw new NotImplementedException(); }
        public override bool Equals(object other) { throw new NotImplementedException(); }
        public override int GetHashCode() { throw new NotImplementedException(); }
    }

    public class Component : Object { }

    public class Behaviour : Component
    {
        public bool enabled { get { throw new NotImplementedException(); } set { throw new NotImplementedException(); } }
    }

    public class MonoBehaviour : Behaviour { }

    public class Transform : Component
    {
        protected Transform() { }
        public Quaternion localRotation { get { throw new NotImplementedException(); } set { throw new NotImplementedException(); } }
    }

    public class Debug
    {
        public static void LogException(Exception exception) { throw new NotImplementedException(); }
        public static void LogException(Exception exception, Object context) { throw new NotImplementedException(); }
        public static void LogWarning(object message) { throw new NotImplementedException(); }
        public static void LogWarning(object message, Object context) { throw new NotImplementedException(); }
        public static void LogError(object message) { throw new NotImplementedException(); }
        public static void LogError(object message, Object context) { throw new NotImplementedException(); }
    }

    public class Time
    {
        public static float realtimeSinceStartup { get { throw new NotImplementedException(); } }
    }

    public struct Mathf
    {
        public static float Min(float a, float b) { throw new NotImplementedException(); }
        public static float Min(params float[] values) { throw new NotImplementedException(); }
        public static int Min(int a, int b) { throw new NotImplementedException(); }
        public static int Min(params int[] values) { throw new NotImplementedException(); }
        public static int RoundToInt(float f) { throw new NotImplementedException(); }
        public static float Clamp(float value, float min, float max) { throw new NotImplementedException(); }
        public static int Clamp(int value, int min, int max) { throw new NotImplementedException(); }
    }

    public struct Quaternion
    {
        public static Quaternion operator *(Quaternion lhs, Quaternion rhs) { throw new NotImplementedException(); }
        public static Quaternion Euler(float x, float y, float z) { throw new NotImplementedException(); }
    }

    public struct Rect
    {
        public Rect(float x, float y, float width, float height) { throw new NotImplementedException(); }
    }

    public sealed class AudioSettings
    {
        public static double dspTime { get { throw new NotImplementedException(); } }
    }

    public sealed class AudioClip : Object
    {
        private AudioClip() { }
        public int samples { get { throw new NotImplementedException(); } }
        public int channels { get { throw new NotImplementedException(); } }
        public int frequency { get { throw new NotImplementedException(); } }
        public bool GetData(float[] data, int offsetSamples) { throw new NotImplementedException(); }
    }

    public class AudioBehaviour : Behaviour { }

    public sealed class AudioSource : AudioBehaviour
    {
        public int timeSamples { get { throw new NotImplementedException(); } set { throw new NotImplementedException(); } }
        public AudioClip clip { get { throw new NotImplementedException(); } set { throw new NotImplementedException(); } }
        public void PlayScheduled(double time) { throw new NotImplementedException(); }
        public void Stop() { throw new NotImplementedException(); }
        public bool isPlaying { get { throw new NotImplementedException(); } }
    }

    public sealed class Microphone
    {
        public static AudioClip Start(string deviceName, bool loop, int lengthSec, int frequency) { throw new NotImplementedException(); }
        public static int GetPosition(string deviceName) { throw new NotImplementedException(); }
        public static void GetDeviceCaps(string deviceName, out int minFreq, out int maxFreq) { throw new NotImplementedException(); }
    }

    public enum TextureFormat
    {
        RGB24 = 3,
        RGBA32 = 4,
    }

    public class Texture : Object
    {
        protected Texture() { }
        public virtual int width { get { throw new NotImplementedException(); } set { throw new NotImplementedException(); } }
        public virtual int height { get { throw new NotImplementedException(); } set { throw new NotImplementedException(); } }
    }

    public sealed class Texture2D : Texture
    {
        public Texture2D(int width, int height, TextureFormat textureFormat, bool mipChain) { throw new NotImplementedException(); }
        public TextureFormat format { get { throw new NotImplementedException(); } }
        public void LoadRawTextureData(byte[] data) { throw new NotImplementedException(); }
        public void Apply(bool updateMipmaps, bool makeNoLongerReadable) { throw new NotImplementedException(); }
        public void Apply(bool updateMipmaps) { throw new NotImplementedException(); }
        public void Apply() { throw new NotImplementedException(); }
    }

    public static class ImageConversion
    {
        public static bool LoadImage(this Texture2D tex, byte[] data, bool markNonReadable) { throw new NotImplementedException(); }
        public static bool LoadImage(this Texture2D tex, byte[] data) { throw new NotImplementedException(); }
    }

    public class Renderer : Component { }

    public class SkinnedMeshRenderer : Renderer
    {
        public Mesh sharedMesh { get { throw new NotImplementedException(); } set { throw new NotImplementedException(); } }
        public void SetBlendShapeWeight(int index, float value) { throw new NotImplementedException(); }
    }

    public sealed class Mesh : Object
    {
        public int blendShapeCount { get { throw new NotImplementedException(); } }
        public string GetBlendShapeName(int shapeIndex) { throw new NotImplementedException(); }
    }

    public enum KeyCode
    {
        Space = 32,
        M = 109,
    }

    public class Input
    {
        public static bool GetKeyDown(KeyCode key) { throw new NotImplementedException(); }
        public static bool GetKeyDown(string name) { throw new NotImplementedException(); }
    }

    [AttributeUsage(AttributeTargets.Field, Inherited = true, AllowMultiple = false)]
    public abstract class PropertyAttribute : Attribute { }

    [AttributeUsage(AttributeTargets.Field, Inherited = true, AllowMultiple = false)]
    public class TooltipAttribute : PropertyAttribute
    {
        public TooltipAttribute(string tooltip) { throw new NotImplementedException(); }
    }

    [AttributeUsage(AttributeTargets.Field, Inherited = true, AllowMultiple = false)]
    public sealed class RangeAttribute : PropertyAttribute
    {
        public RangeAttribute(float min, float max) { throw new NotImplementedException(); }
    }
}
