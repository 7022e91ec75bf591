// The Unity sample's NewestTextures (unity_sample/Runtime/NewestTextures.cs), run outside Unity: which
// messages taken off the queue in one Update are handed on. Built with mcs and run with mono by
// tests/test_unity_sample.py; prints one line per case and exits 1 if any fails.
using System;
using System.Collections.Generic;
using System.Linq;
using Facecast;
using static Cases;

static class NewestTexturesSpec
{
    // One Update: the queue's messages ("texture 1 #3": session 1's texture 3; "closed 1"; "pong") in, what
    // is handed on out, in order.
    static string Update(NewestTextures<string> rule, params string[] queue)
    {
        var out_ = new List<string>();
        foreach (var m in queue)
        {
            var words = m.Split(' ');
            int? session = words.Length > 1 ? int.Parse(words[1]) : (int?)null;
            out_.AddRange(rule.Take(m, words[0], session));
        }
        out_.AddRange(rule.Flush());
        return string.Join(", ", out_);
    }

    static void Expect(string what, string actual, string expected)
    {
        if (actual == expected) return;
        throw new Exception($"{what}: hands on [{actual}], expected [{expected}]");
    }

    static int Main()
    {
        Case("one texture an Update is handed on as it is", () =>
        {
            var rule = new NewestTextures<string>();
            Expect("first", Update(rule, "texture 1 #1"), "texture 1 #1");
            Expect("next", Update(rule, "texture 1 #2"), "texture 1 #2");
        });
        Case("after a stall only the newest texture of each session is handed on", () =>
        {
            var rule = new NewestTextures<string>();
            var burst = Enumerable.Range(1, 30).SelectMany(i => new[] { $"texture 1 #{i}", $"texture 2 #{i}" });
            Expect("burst", Update(rule, burst.ToArray()), "texture 1 #30, texture 2 #30");
        });
        Case("a session in both modes: its motion passes, its stale textures do not", () =>
        {
            var rule = new NewestTextures<string>();
            var burst = Enumerable.Range(1, 30).SelectMany(i => new[] { $"motion 1 #{i}", $"texture 1 #{i}" });
            var expected = string.Join(", ", Enumerable.Range(1, 30).Select(i => $"motion 1 #{i}")) + ", texture 1 #30";
            Expect("both", Update(rule, burst.ToArray()), expected);
        });
        Case("no old texture after a new connection or an error about the connection", () =>
        {
            var rule = new NewestTextures<string>();
            Expect("welcome", Update(rule, "texture 1 #1", "texture 2 #1", "error", "welcome", "opened 1", "texture 1 #2"),
                   "texture 1 #1, texture 2 #1, error, welcome, opened 1, texture 1 #2");
        });
        Case("an interrupted or erring session's texture comes before that message", () =>
        {
            var rule = new NewestTextures<string>();
            Expect("interrupted", Update(rule, "texture 1 #1", "texture 2 #1", "interrupted 1", "error 2", "pong"),
                   "texture 1 #1, interrupted 1, texture 2 #1, error 2, pong");
        });
        Case("motion and replies are never skipped, and keep their order", () =>
        {
            var rule = new NewestTextures<string>();
            Expect("mixed", Update(rule, "motion 1 a", "pong", "motion 1 b", "heartbeat", "motion 2 c"),
                   "motion 1 a, pong, motion 1 b, heartbeat, motion 2 c");
        });
        Case("a closed session's texture comes before its close, never after it", () =>
        {
            var rule = new NewestTextures<string>();
            Expect("closed", Update(rule, "texture 1 #1", "texture 1 #2", "texture 2 #1", "closed 1", "pong"),
                   "texture 1 #2, closed 1, pong, texture 2 #1");
        });
        Case("a texture after its session's close waits for the end of the Update", () =>
        {
            var rule = new NewestTextures<string>();
            Expect("closed", Update(rule, "texture 1 #1", "closed 1", "texture 1 #2", "texture 1 #3"),
                   "texture 1 #1, closed 1, texture 1 #3");
        });
        Case("nothing waits from one Update to the next", () =>
        {
            var rule = new NewestTextures<string>();
            Update(rule, "texture 1 #1", "texture 2 #1");
            Expect("empty", Update(rule), "");
        });
        return Cases.Finish();
    }
}
