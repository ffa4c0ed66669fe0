package redis

import "context"

// ForgetRunsAs makes c believe every shard it knows for group last ran as
// run: what it sees after the server restarted (a test cannot change a
// real server's run ID but by restarting it).
func (c *Checkpoints) ForgetRunsAs(ctx context.Context, group, run string) error {
	shards, err := c.shards.shards(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range shards {
		c.runs[group+"\x00"+s.name] = run
	}
	return nil
}
