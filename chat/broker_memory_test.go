package chat_test

import (
	"testing"

	"github.com/daogou/daogou/chat"
	"github.com/daogou/daogou/chat/brokertest"
)

func TestMemoryBroker(t *testing.T) {
	brokertest.Run(t, func(*testing.T) chat.Broker { return chat.NewMemoryBroker() })
}
