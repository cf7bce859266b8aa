namespace Miosa.Actors.Common;

/// <summary>What an entity decided about a command: events to persist, or a rejection.</summary>
public sealed record Decision(IReadOnlyList<IMiosaEvent> Events, Rejection? Rejection)
{
    public static Decision Accept(params IMiosaEvent[] events) => new(events, null);
    public static Decision Reject(Rejection rejection) => new([], rejection);
    public static Decision Nothing { get; } = new([], null);
}
