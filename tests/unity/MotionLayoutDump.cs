// Prints the Unity sample's motion-frame layout (unity_sample/Runtime/MotionFrame.cs) and the frames it
// decodes from a file of frames as the bridge sends them, so tests/test_unity_sample.py can hold both to
// the Python definition (facecast.motion_frame). Usage: mono dump.exe FRAMES.bin COUNT
using System;
using System.IO;
using System.Linq;
using Facecast;

static class MotionLayoutDump
{
    static int Main(string[] args)
    {
        Console.WriteLine($"layout_version {MotionLayout.Version}");
        Console.WriteLine($"frame_floats {MotionLayout.FrameFloats}");
        Console.WriteLine($"frame_bytes {MotionLayout.FrameBytes}");
        Console.WriteLine($"offsets frameIndex={MotionLayout.FrameIndex} time={MotionLayout.Time} " +
                          $"blendshapes={MotionLayout.Blendshapes} visemes={MotionLayout.Visemes} " +
                          $"headRotation={MotionLayout.HeadRotation} headTranslation={MotionLayout.HeadTranslation} " +
                          $"gaze={MotionLayout.Gaze} voiceActivity={MotionLayout.VoiceActivity}");
        Console.WriteLine("arkit " + string.Join(",", MotionLayout.ArkitNames));
        Console.WriteLine("visemes " + string.Join(",", MotionLayout.VisemeNames));
        byte[] payload = File.ReadAllBytes(args[0]);
        for (int i = 0; i < int.Parse(args[1]); i++)
        {
            var frame = MotionFrame.Decode(payload, i, 800L * i, 1);
            Console.WriteLine($"frame {i} " + string.Join(" ", frame.Values.Select(v => v.ToString("R"))));
            Console.WriteLine($"named {i} {frame.Index} {frame.Time:R} {frame.HeadPitch:R} {frame.HeadYaw:R} " +
                              $"{frame.HeadRoll:R} {frame.VoiceActivity:R} {frame.Blendshape(17):R}");
        }
        return 0;
    }
}
