using System.Collections.Concurrent;

namespace Miosa.Edge;

/// <summary>
/// Wrong share-link passwords per token on this edge: after <see cref="MaxFailures"/> in a window,
/// further guesses are refused until the window passes (the slow hash alone would still allow
/// thousands of guesses an hour).
/// </summary>
public sealed class SharePasswordAttempts(TimeProvider clock)
{
    public const int MaxFailures = 5;
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(1);
    private readonly ConcurrentDictionary<string, (int Failures, DateTimeOffset Since)> _failures = new();

    public bool Allowed(string tokenId) =>
        !_failures.TryGetValue(tokenId, out var f) || f.Failures < MaxFailures || clock.GetUtcNow() - f.Since >= Window;

    public void RecordFailure(string tokenId)
    {
        var now = clock.GetUtcNow();
        _failures.AddOrUpdate(tokenId, _ => (1, now), (_, f) => now - f.Since >= Window ? (1, now) : (f.Failures + 1, f.Since));
    }

    public void RecordSuccess(string tokenId) => _failures.TryRemove(tokenId, out _);
}
