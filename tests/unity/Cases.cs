// The runner both Unity specs share: each case prints "ok" or "FAIL" with its message, and the spec's
// exit status says whether all passed (tests/test_unity_sample.py reads both).
using System;

static class Cases
{
    static int _failures;

    public static void Case(string name, Action body)
    {
        try { body(); Console.WriteLine($"ok   {name}"); }
        catch (Exception e) { _failures++; Console.WriteLine($"FAIL {name}: {e.Message}"); }
    }

    /// <summary>The spec's exit status, after its last case.</summary>
    public static int Finish()
    {
        Console.WriteLine(_failures == 0 ? "all cases pass" : $"{_failures} case(s) failed");
        return _failures == 0 ? 0 : 1;
    }
}
