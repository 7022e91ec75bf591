// The facecast motion frame, layout version 1 (bridge/PROTOCOL.md, "The motion frame").
// 80 little-endian float32 values, 320 bytes per frame.
using System;

namespace Facecast
{
    public static class MotionLayout
    {
        public const int Version = 1;
        public const int FrameFloats = 80;
        public const int FrameBytes = 320;
        public const int FrameIndex = 0;
        public const int Time = 1;
        public const int Blendshapes = 2;     // 52 ARKit weights, Apple's order
        public const int Visemes = 54;        // 15 Oculus visemes
        public const int HeadRotation = 69;   // pitch, yaw, roll (degrees)
        public const int HeadTranslation = 72; // x, y, z (metres)
        public const int Gaze = 75;           // left yaw, left pitch, right yaw, right pitch (degrees)
        public const int VoiceActivity = 79;

        /// <summary>The 52 ARKit blendshapes in Apple's order, as facecast sends them.</summary>
        public static readonly string[] ArkitNames =
        {
            "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
            "eyeSquintLeft", "eyeWideLeft",
            "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
            "eyeSquintRight", "eyeWideRight",
            "jawForward", "jawLeft", "jawRight", "jawOpen",
            "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
            "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
            "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
            "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
            "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
            "mouthUpperUpLeft", "mouthUpperUpRight",
            "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
            "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
            "noseSneerLeft", "noseSneerRight",
            "tongueOut",
        };

        public static readonly string[] VisemeNames =
        {
            "sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "ih", "oh", "ou",
        };
    }

    /// <summary>One decoded motion frame plus the session, utterance and sample position it shows.</summary>
    public sealed class MotionFrame
    {
        public readonly float[] Values = new float[MotionLayout.FrameFloats];
        public long SamplePosition;   // -1 for idle frames
        public int Utterance;         // 0 for idle frames
        public int Session;           // the session it belongs to (one client can carry several)

        public int Index => (int)Values[MotionLayout.FrameIndex];
        public float Time => Values[MotionLayout.Time];
        public float Blendshape(int arkitIndex) => Values[MotionLayout.Blendshapes + arkitIndex];
        public float HeadPitch => Values[MotionLayout.HeadRotation];
        public float HeadYaw => Values[MotionLayout.HeadRotation + 1];
        public float HeadRoll => Values[MotionLayout.HeadRotation + 2];

        // The head and eye rotations as Unity Euler angles (Quaternion.Euler's x, y, z, in degrees) for a
        // bone whose rest pose faces +z with y up, Unity's convention for characters. Unity's frame is left
        // handed, the motion frame's right handed: +x turns +z toward -y (looks down: +pitch), +y turns +z
        // toward +x (the character's right: -yaw), +z turns +y toward -x (the left shoulder: +roll).
        public float HeadEulerX => HeadPitch;
        public float HeadEulerY => -HeadYaw;
        public float HeadEulerZ => HeadRoll;
        // Gaze: + yaw toward the character's left, + pitch up (the other way from the head's pitch).
        public float LeftEyeEulerX => -Values[MotionLayout.Gaze + 1];
        public float LeftEyeEulerY => -Values[MotionLayout.Gaze];
        public float RightEyeEulerX => -Values[MotionLayout.Gaze + 3];
        public float RightEyeEulerY => -Values[MotionLayout.Gaze + 2];
        public float VoiceActivity => Values[MotionLayout.VoiceActivity];

        /// <summary>Decode frame <paramref name="i"/> of a motion message's "frames" payload.</summary>
        public static MotionFrame Decode(byte[] payload, int i, long samplePosition, int utterance)
        {
            var frame = new MotionFrame { SamplePosition = samplePosition, Utterance = utterance };
            int offset = i * MotionLayout.FrameBytes;
            if (BitConverter.IsLittleEndian)
            {
                Buffer.BlockCopy(payload, offset, frame.Values, 0, MotionLayout.FrameBytes);
            }
            else
            {
                var tmp = new byte[4];
                for (int k = 0; k < MotionLayout.FrameFloats; k++)
                {
                    Array.Copy(payload, offset + 4 * k, tmp, 0, 4);
                    Array.Reverse(tmp);
                    frame.Values[k] = BitConverter.ToSingle(tmp, 0);
                }
            }
            return frame;
        }
    }
}
