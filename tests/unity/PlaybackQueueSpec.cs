// The Unity sample's PlaybackQueue (unity_sample/Runtime/PlaybackQueue.cs), run outside Unity: which
// frame a face shows while an AudioSource plays, pauses, stops or changes clip. Built with mcs and run
// with mono by tests/test_unity_sample.py; prints one line per case and exits 1 if any fails.
using System;
using System.Collections.Generic;
using Facecast;
using static Cases;

static class PlaybackQueueSpec
{
    const int Hop = 800;          // samples per frame: 48 kHz at 60 fps
    const long Clip = 48000 * 3;  // a 3 s line

    // A speech frame of utterance u at sample position pos; its jawOpen names it (u + pos / 1e6).
    static MotionFrame Speech(int u, long pos)
    {
        var f = new MotionFrame { Utterance = u, SamplePosition = pos, Session = 1 };
        f.Values[MotionLayout.Blendshapes + 17] = u + pos / 1e6f;
        return f;
    }

    static MotionFrame Idle(float tag)
    {
        var f = new MotionFrame { Utterance = 0, SamplePosition = -1, Session = 1 };
        f.Values[MotionLayout.Blendshapes + 17] = tag;
        return f;
    }

    static void Line(PlaybackQueue q, int u, int frames)
    {
        for (int i = 0; i < frames; i++) q.Add(Speech(u, i * Hop));
    }

    static string Name(MotionFrame f) =>
        f == null ? "nothing" : f.SamplePosition < 0 ? $"idle {f.Values[MotionLayout.Blendshapes + 17]}" : $"line {f.Utterance} at {f.SamplePosition}";

    static void Expect(string what, MotionFrame shown, string expected)
    {
        if (Name(shown) == expected) return;
        throw new Exception($"{what}: shows {Name(shown)}, expected {expected}");
    }

    static void Expect(string what, int actual, int expected)
    {
        if (actual == expected) return;
        throw new Exception($"{what}: {actual}, expected {expected}");
    }

    static int Main()
    {
        Case("a frame shows once its sample is heard, not before", () =>
        {
            var q = new PlaybackQueue();
            Line(q, 1, 10);
            Expect("scheduled, not started", q.Follow(false, 0, Clip), "nothing");
            Expect("at sample 0", q.Follow(true, 0, Clip), "line 1 at 0");
            Expect("at sample 1700", q.Follow(true, 1700, Clip), "line 1 at 1600");
            Expect("frames still waiting", q.Pending, 7);
        });

        Case("idle frames wait until the line has played", () =>
        {
            var q = new PlaybackQueue();
            Line(q, 1, 3);
            q.Add(Idle(7));  // the server idles as soon as the line's last frame is out
            Expect("line playing", q.Follow(true, 100, Clip), "line 1 at 0");
            Expect("last frame heard, audio still playing", q.Follow(true, 5000, Clip), "line 1 at 1600");
            Expect("clip ended (rewound to 0)", q.Follow(false, 0, Clip), "idle 7");
        });

        Case("before any line, idle frames show at once", () =>
        {
            var q = new PlaybackQueue();
            q.Add(Idle(3));
            Expect("nothing playing", q.Follow(false, 0, 0), "idle 3");
        });

        Case("a paused line keeps its frames and goes on where it was", () =>
        {
            var q = new PlaybackQueue();
            Line(q, 1, 10);
            q.Follow(true, 900, Clip);
            q.Add(Idle(1));
            Expect("paused at 900", q.Follow(false, 900, Clip), "line 1 at 800");
            Expect("still paused", q.Follow(false, 900, Clip), "line 1 at 800");
            Expect("frames kept", q.Pending, 8);
            Expect("resumed at 2500", q.Follow(true, 2500, Clip), "line 1 at 2400");
        });

        Case("a stopped line's frames are dropped, also those still on their way", () =>
        {
            var q = new PlaybackQueue();
            Line(q, 1, 4);
            q.Follow(true, 900, Clip);
            q.Add(Idle(2));
            Expect("stopped (rewound to 0)", q.Follow(false, 0, Clip), "idle 2");
            Expect("queue after the stop", q.Pending, 0);
            q.Add(Speech(1, 4 * Hop));
            Expect("a late frame of the stopped line", q.Pending, 0);
        });

        Case("a pause ended by Stop drops the line", () =>
        {
            var q = new PlaybackQueue();
            Line(q, 1, 10);
            q.Follow(true, 900, Clip);
            q.Follow(false, 900, Clip);
            q.Follow(false, 0, Clip);
            Expect("queue after the stop", q.Pending, 0);
        });

        Case("a new clip on the source drops the old line and plays the new one", () =>
        {
            var q = new PlaybackQueue();
            Line(q, 1, 20);
            q.Follow(true, 5000, Clip);
            Expect("new clip: the source went back to 0", q.Follow(true, 0, Clip), "line 1 at 4800");
            Expect("old line's frames", q.Pending, 0);
            Line(q, 2, 3);
            Expect("new line at 900", q.Follow(true, 900, Clip), "line 2 at 800");
        });

        Case("a clip played again from the start shows idle frames, not the old line's last frame", () =>
        {
            var q = new PlaybackQueue();
            Line(q, 1, 3);
            q.Follow(true, 5000, Clip);
            q.Add(Idle(4));
            Expect("the line's last frame while it plays", q.Follow(true, 6000, Clip), "line 1 at 1600");
            Expect("Stop then Play: back at 0", q.Follow(true, 0, Clip), "idle 4");
        });

        Case("an interrupted line is dropped, and its late frames too", () =>
        {
            var q = new PlaybackQueue();
            Line(q, 1, 10);
            q.Follow(true, 900, Clip);
            q.Interrupted();
            q.Add(Speech(1, 8000));
            Expect("queue", q.Pending, 0);
            Line(q, 2, 2);
            Expect("next line queued", q.Pending, 2);
        });

        Case("a line stopped before any frame showed does not play over the next line", () =>
        {
            // Line 1 played out; line 2 was stopped within the playback delay, before its frames arrived,
            // so they come in while the source is stopped. Line 3 then starts from stopped.
            var q = new PlaybackQueue();
            Line(q, 1, 2);
            q.Follow(true, 2000, Clip);
            q.Follow(false, 0, Clip);
            q.LineStarted(2);
            q.Follow(false, 0, Clip);
            Line(q, 2, 5);
            q.LineStarted(3);  // the sender sent line 3's first samples
            Line(q, 3, 5);
            Expect("line 3 at 900", q.Follow(true, 900, Clip), "line 3 at 800");
            Expect("left queued", q.Pending, 3);
        });

        Case("the line now starting keeps its frames", () =>
        {
            var q = new PlaybackQueue();
            Line(q, 1, 3);
            q.LineStarted(1);
            q.LineStarted(1);
            Expect("queue", q.Pending, 3);
        });

        Case("Clear forgets the old session's lines", () =>
        {
            var q = new PlaybackQueue();
            Line(q, 5, 3);
            q.Interrupted();
            q.Clear();
            Line(q, 1, 3);  // a new session numbers its utterances from 1 again
            Expect("new session's line", q.Pending, 3);
        });

        return Cases.Finish();
    }
}
